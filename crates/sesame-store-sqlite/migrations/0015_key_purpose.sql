-- Two key families (issue #18): access-token keys (SESAME_SIGNING_ALG) and OpenID Connect
-- ID-token keys (SESAME_ID_TOKEN_ALG), each with its own next/current/retired life, published
-- together in the JWKS. Every key made before this migration signed access tokens; the
-- ID-token pair is made by the first start that finds none.
ALTER TABLE signing_keys ADD COLUMN purpose TEXT NOT NULL DEFAULT 'access'  -- access | id_token
    CHECK (purpose IN ('access', 'id_token'));
-- At most one key of each purpose signs and one waits. Rotation and initialisation already run
-- under the write lock; these make the database say so too, as PostgreSQL's indexes do.
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys(purpose) WHERE state = 'current';
CREATE UNIQUE INDEX signing_keys_one_next ON signing_keys(purpose) WHERE state = 'next';
