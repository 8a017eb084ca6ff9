-- OAuth clients (issue #18): a client is a service (client credentials, token exchange), an app
-- people sign in to through Sesame (authorization code), or both. Clients made before this
-- migration keep doing what they did: the two service grants, a secret, no redirect URIs.
ALTER TABLE clients ADD COLUMN redirect_uris text[] NOT NULL DEFAULT '{}';               -- each compared exactly
ALTER TABLE clients ADD COLUMN post_logout_redirect_uris text[] NOT NULL DEFAULT '{}';
ALTER TABLE clients ADD COLUMN grant_types text[] NOT NULL
    DEFAULT ARRAY['client_credentials', 'urn:ietf:params:oauth:grant-type:token-exchange'];
ALTER TABLE clients ADD COLUMN public boolean NOT NULL DEFAULT false;       -- no secret: PKCE is the proof
ALTER TABLE clients ADD COLUMN first_party boolean NOT NULL DEFAULT false;  -- no consent screen
ALTER TABLE clients ADD COLUMN backchannel_logout_uri text;
