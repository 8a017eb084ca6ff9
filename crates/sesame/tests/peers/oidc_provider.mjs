// A real OpenID provider for Sesame to sign people in with (issue #22): Node's oidc-provider
// (panva, OpenID-certified), with its development login and consent pages. Two people:
// alice (email verified) and mallory, who registered someone else's address, unverified.
//
//   node oidc_provider.mjs PORT REDIRECT_URI MALLORYS_EMAIL
//
// Prints {"event":"listening","issuer":…} when it serves.
import Provider from "oidc-provider";

const [port, redirect, malloryEmail] = process.argv.slice(2);
const people = {
  alice: { sub: "alice", email: "alice@op.example", email_verified: true },
  mallory: { sub: "mallory", email: malloryEmail, email_verified: false },
};

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [
    {
      client_id: "sesame",
      client_secret: "op-secret",
      redirect_uris: [redirect],
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
    },
  ],
  claims: { openid: ["sub"], email: ["email", "email_verified"] },
  // The email claims in the ID token itself (Sesame reads the ID token, not userinfo).
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ["sesame-peer-test-only"] },
  async findAccount(_ctx, id) {
    const person = people[id];
    if (!person) return undefined;
    return { accountId: id, claims: async () => person };
  },
});

provider.listen(Number(port), () => {
  console.log(JSON.stringify({ event: "listening", issuer: provider.issuer }));
});
