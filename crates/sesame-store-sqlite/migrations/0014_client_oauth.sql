-- OAuth clients (issue #18): a client is a service (client credentials, token exchange), an app
-- people sign in to through Sesame (authorization code), or both. Clients made before this
-- migration keep doing what they did: the two service grants, a secret, no redirect URIs.
ALTER TABLE clients ADD COLUMN redirect_uris TEXT NOT NULL DEFAULT '[]';              -- JSON list, each compared exactly
ALTER TABLE clients ADD COLUMN post_logout_redirect_uris TEXT NOT NULL DEFAULT '[]';  -- JSON list
ALTER TABLE clients ADD COLUMN grant_types TEXT NOT NULL
    DEFAULT '["client_credentials","urn:ietf:params:oauth:grant-type:token-exchange"]';  -- JSON list
ALTER TABLE clients ADD COLUMN public INTEGER NOT NULL DEFAULT 0;       -- no secret: PKCE is the proof
ALTER TABLE clients ADD COLUMN first_party INTEGER NOT NULL DEFAULT 0;  -- no consent screen
ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT;
