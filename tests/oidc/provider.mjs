// A real OpenID provider for the SSO tests: the certified `oidc-provider` package on loopback.
//
// Usage: node provider.mjs CONFIG.json — the file holds {port, issuer, clients, accounts}. Each
// account is {sub, email, email_verified, groups, name, amr, acr}; the login form takes its key.
// A minimal interaction replaces devInteractions so the test chooses the `amr`/`acr` a sign-in gets:
// GET /interaction/:uid shows a one-field form, POST /interaction/:uid/login finishes the login.
// Consent is granted automatically (loadExistingGrant), as for a first-party application.
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const accounts = config.accounts;
// A signing key of this provider's own (the quick-start key is the same in every process, so
// provider B could sign for A).
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' };

const provider = new Provider(config.issuer, {
  clients: config.clients,
  jwks: { keys: [signingKey] },
  pkce: { required: () => true },
  conformIdTokenClaims: false, // the requested claims go into the id_token itself
  claims: { sid: null, openid: ['sub', 'acr', 'amr', 'auth_time'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'] },
  scopes: ['openid', 'email', 'profile', 'groups'],
  features: { devInteractions: { enabled: false }, rpInitiatedLogout: { enabled: true } },
  cookies: { keys: ['test-only-cookie-key'] },
  ttl: { IdToken: config.idTokenTtl || 3600 },
  findAccount(ctx, sub) {
    const entry = Object.values(accounts).find((a) => a.sub === sub);
    if (!entry) return undefined;
    return {
      accountId: sub,
      async claims() {
        const { sub: id, email, email_verified: verified, groups, name } = entry;
        return { sub: id, email, email_verified: verified, groups, name };
      },
    };
  },
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid email profile groups');
    await grant.save();
    return grant;
  },
});

const callback = provider.callback();

function readForm(req) {
  return new Promise((resolve) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => resolve(new URLSearchParams(body)));
  });
}

async function interaction(req, res, uid) {
  const details = await provider.interactionDetails(req, res);
  if (req.method === 'GET') {
    res.setHeader('Content-Type', 'text/html');
    res.end(`<form method="post" action="/interaction/${uid}/login"><input name="login"><button>Sign in</button></form>`);
    return;
  }
  const form = await readForm(req);
  const account = accounts[form.get('login')];
  if (!account || details.prompt.name !== 'login') {
    res.statusCode = 400;
    res.end('unknown login');
    return;
  }
  const login = { accountId: account.sub };
  if (account.amr) login.amr = account.amr;
  if (account.acr) login.acr = account.acr;
  await provider.interactionFinished(req, res, { login }, { mergeWithLastSubmission: false });
}

const server = createServer((req, res) => {
  const match = req.url.match(/^\/interaction\/([^/?]+)/);
  if (!match) return callback(req, res);
  return interaction(req, res, match[1]).catch((err) => {
    res.statusCode = 500;
    res.end(String(err));
  });
});

server.listen(config.port, '127.0.0.1', () => {
  process.stdout.write(`listening ${config.issuer}\n`);
});
