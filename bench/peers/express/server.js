// The hand-rolled peer of the benchmark (scripts/bench-peers.sh): what a team would write with
// Express, jsonwebtoken, better-sqlite3 and argon2 instead of running Sesame. Same five routes and
// JSON shapes as Sesame's, configured to match it where there is a counterpart:
// - argon2id at Sesame's default cost (m = 19 MiB, t = 2, p = 1; npm argon2's own default is
//   m = 64 MiB, t = 3, p = 4), hashed on libuv's thread pool;
// - access tokens HS256 with a shared secret (jsonwebtoken's common use), 15 minutes; the
//   check is the signature and the claims only, no database read; the key is a KeyObject made
//   once (see serve());
// - refresh tokens opaque (32 random bytes), stored as SHA-256 in SQLite, 7 days, rotated by one
//   conditional UPDATE that marks the old one used (so a token cannot be spent twice);
// - SQLite in WAL mode, synchronous=NORMAL, writes in IMMEDIATE transactions;
// - Node's cluster module, PEER_WORKERS processes (default 2, one per core).
//
// Environment: PEER_PORT, PEER_DB (SQLite file), PEER_SECRET (HMAC key), PEER_WORKERS,
// PEER_JWT_KEY=string (hand jsonwebtoken the secret as a string, see serve()).
'use strict';

const cluster = require('node:cluster');
const crypto = require('node:crypto');

const argon2 = require('argon2');
const Database = require('better-sqlite3');
const express = require('express');
const jwt = require('jsonwebtoken');

const PORT = Number(process.env.PEER_PORT || 3000);
const DB_PATH = process.env.PEER_DB || 'peer.sqlite3';
const WORKERS = Number(process.env.PEER_WORKERS || 2);
const ACCESS_TTL_S = 15 * 60;
const REFRESH_TTL_S = 7 * 24 * 3600;
const HASH = { type: argon2.argon2id, memoryCost: 19 * 1024, timeCost: 2, parallelism: 1 };

function open() {
  const db = new Database(DB_PATH, { timeout: 5000 });
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  return db;
}

function migrate(db) {
  db.exec(`
    CREATE TABLE IF NOT EXISTS users (
      id INTEGER PRIMARY KEY,
      email TEXT NOT NULL UNIQUE,
      username TEXT UNIQUE,
      display_name TEXT NOT NULL DEFAULT '',
      password_hash TEXT NOT NULL,
      created_at TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS user_roles (
      user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      role TEXT NOT NULL,
      PRIMARY KEY (user_id, role)
    );
    CREATE TABLE IF NOT EXISTS refresh_tokens (
      token_hash BLOB PRIMARY KEY,
      user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      expires_at INTEGER NOT NULL,
      used_at INTEGER
    );
    CREATE INDEX IF NOT EXISTS refresh_tokens_user ON refresh_tokens(user_id);
  `);
}

if (cluster.isPrimary) {
  const secret = process.env.PEER_SECRET;
  if (!secret || secret.length < 32) {
    console.error('PEER_SECRET must be at least 32 characters');
    process.exit(2);
  }
  const db = open();
  migrate(db);
  db.close();
  for (let i = 0; i < WORKERS; i++) cluster.fork();
  let stopping = false;
  cluster.on('exit', (w, code) => {
    if (!stopping) console.error(`worker ${w.process.pid} exited (${code})`);
  });
  for (const sig of ['SIGTERM', 'SIGINT']) {
    process.on(sig, () => {
      stopping = true;
      for (const w of Object.values(cluster.workers)) w.kill();
      process.exit(0);
    });
  }
} else {
  serve();
}

function serve() {
  // The key as a KeyObject, made once. Handed a string, jsonwebtoken 9 first tries to parse it
  // as a public key on every call and catches the failure: ~0.8 ms per verify instead of ~20 µs.
  // PEER_JWT_KEY=string measures that (what most tutorials write).
  const secret =
    process.env.PEER_JWT_KEY === 'string'
      ? process.env.PEER_SECRET
      : crypto.createSecretKey(Buffer.from(process.env.PEER_SECRET, 'utf8'));
  const db = open();
  const q = {
    insertUser: db.prepare(
      'INSERT INTO users (email, username, password_hash, created_at) VALUES (?, ?, ?, ?) RETURNING id',
    ),
    userByEmail: db.prepare('SELECT id, password_hash FROM users WHERE email = ?'),
    profile: db.prepare(`
      SELECT u.id, u.email, u.username, u.display_name, u.created_at,
             (SELECT json_group_array(role) FROM user_roles WHERE user_id = u.id) AS roles
      FROM users u WHERE u.id = ?`),
    insertRefresh: db.prepare(
      'INSERT INTO refresh_tokens (token_hash, user_id, expires_at) VALUES (?, ?, ?)',
    ),
    // The conditional UPDATE decides which of two racing refreshes wins.
    spendRefresh: db.prepare(`
      UPDATE refresh_tokens SET used_at = ?
      WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?
      RETURNING user_id`),
  };
  const now = () => Math.floor(Date.now() / 1000);
  const sha256 = (s) => crypto.createHash('sha256').update(s).digest();

  // A login for an unknown address still hashes, so timing does not tell which addresses exist.
  let dummyHash = null;
  const dummy = () =>
    dummyHash ? Promise.resolve(dummyHash) : argon2.hash('not a password', HASH).then((h) => (dummyHash = h));

  function issue(userId) {
    const refresh = crypto.randomBytes(32).toString('base64url');
    const access = jwt.sign({ token_type: 'access' }, secret, {
      algorithm: 'HS256',
      expiresIn: ACCESS_TTL_S,
      subject: String(userId),
      jwtid: crypto.randomUUID(),
    });
    return { access, refresh };
  }
  const saveRefresh = (refresh, userId) =>
    q.insertRefresh.run(sha256(refresh), userId, now() + REFRESH_TTL_S);

  const rotate = db.transaction((presented) => {
    const t = now();
    const row = q.spendRefresh.get(t, sha256(presented), t);
    if (!row) return null;
    const pair = issue(row.user_id);
    saveRefresh(pair.refresh, row.user_id);
    return pair;
  });

  const err = (res, status, code, detail) => res.status(status).json({ detail, code });

  function bearer(req, res, next) {
    const h = req.get('authorization') || '';
    if (!h.startsWith('Bearer ')) return err(res, 401, 'not_authenticated', 'Bearer token required');
    try {
      req.claims = jwt.verify(h.slice(7), secret, { algorithms: ['HS256'] });
    } catch {
      return err(res, 401, 'token_invalid', 'Token is invalid or expired');
    }
    if (req.claims.token_type !== 'access') return err(res, 401, 'token_invalid', 'Not an access token');
    next();
  }

  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.use(express.json({ limit: '16kb' }));

  app.post('/auth/register', async (req, res) => {
    const { email, password, username } = req.body || {};
    if (typeof email !== 'string' || !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email) || email.length > 254) {
      return err(res, 400, 'validation_error', 'a valid email is required');
    }
    if (typeof password !== 'string' || password.length < 8 || password.length > 1024) {
      return err(res, 400, 'validation_error', 'password must be 8 to 1024 characters');
    }
    if (username !== undefined && (typeof username !== 'string' || !/^[A-Za-z0-9_.-]{3,32}$/.test(username))) {
      return err(res, 400, 'validation_error', 'invalid username');
    }
    const hash = await argon2.hash(password, HASH);
    const created = new Date().toISOString();
    try {
      // The unique constraint decides, not a check before the insert.
      const { id } = q.insertUser.get(email.toLowerCase(), username ?? null, hash, created);
      res.status(201).json({ id, email: email.toLowerCase(), username: username ?? null, created_at: created });
    } catch (e) {
      if (e.code === 'SQLITE_CONSTRAINT_UNIQUE') return err(res, 409, 'conflict', 'email or username taken');
      throw e;
    }
  });

  app.post('/auth/login', async (req, res) => {
    const { email, password } = req.body || {};
    if (typeof email !== 'string' || typeof password !== 'string') {
      return err(res, 400, 'validation_error', 'email and password are required');
    }
    const user = q.userByEmail.get(email.toLowerCase());
    const ok = await argon2.verify(user ? user.password_hash : await dummy(), password);
    if (!user || !ok) {
      return err(res, 401, 'invalid_credentials', 'No active account found with the given credentials');
    }
    const pair = issue(user.id);
    saveRefresh(pair.refresh, user.id);
    res.json(pair);
  });

  app.post('/auth/token/refresh', (req, res) => {
    const presented = req.body && req.body.refresh;
    if (typeof presented !== 'string') return err(res, 400, 'validation_error', 'refresh is required');
    const pair = rotate.immediate(presented);
    if (!pair) return err(res, 401, 'token_invalid', 'Refresh token is invalid, spent or expired');
    res.json(pair);
  });

  app.get('/auth/verify', bearer, (req, res) => {
    res.set('X-Auth-Subject', req.claims.sub).status(200).end();
  });

  app.get('/profile', bearer, (req, res) => {
    const row = q.profile.get(Number(req.claims.sub));
    if (!row) return err(res, 401, 'user_not_found', 'User not found');
    row.roles = JSON.parse(row.roles);
    res.json(row);
  });

  app.use((req, res) => err(res, 404, 'not_found', 'Not found'));
  // Express 5 hands rejected promises of async handlers here too.
  app.use((e, req, res, _next) => {
    if (e.type === 'entity.parse.failed') return err(res, 400, 'invalid_json', 'invalid JSON');
    console.error(e);
    err(res, 500, 'internal', 'internal error');
  });

  app.listen(PORT, '127.0.0.1');
}
