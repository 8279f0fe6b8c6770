// The real OpenID Connect provider the API tests talk to: npm's
// oidc-provider (pinned in package.json), on 127.0.0.1 only.
//
//   OIDC_PORT=... OIDC_CLIENT_ID=... OIDC_CLIENT_SECRET=... \
//   OIDC_REDIRECT_URI=...[,...] node provider.js
//
// The issuer is http://127.0.0.1:<port> (portcullis allows http:// to the
// loopback only). One client, registered for the given redirect URIs, with
// the authorization code grant and PKCE. Signing keys, made fresh at each
// start: RSA 2048 (kid "rs1") and P-256 (kid "es1"); ID tokens are RS256
// unless OIDC_ID_TOKEN_ALG says ES256. Logins go through oidc-provider's
// development interactions (any login name is accepted): the account id is
// the login; its email is the login when it holds an '@', else
// <login>@example.com; email_verified is false for a login starting with
// "unverified", true otherwise. Prints "ready <issuer>" once listening.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_PORT || 0);
if (!port) {
	console.error('provider.js: OIDC_PORT is required');
	process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;

function jwk(type, opts, kid, alg) {
	const { privateKey } = generateKeyPairSync(type, opts);
	return { ...privateKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };
}

const keys = [
	jwk('rsa', { modulusLength: 2048 }, 'rs1', 'RS256'),
	jwk('ec', { namedCurve: 'P-256' }, 'es1', 'ES256'),
];

const provider = new Provider(issuer, {
	cookies: { keys: [randomBytes(32).toString('hex')] },
	clients: [{
		client_id: process.env.OIDC_CLIENT_ID || 'portcullis',
		client_secret: process.env.OIDC_CLIENT_SECRET || 'portcullis-secret',
		// one or several, comma-separated (login and associate callbacks)
		redirect_uris: (process.env.OIDC_REDIRECT_URI || 'http://127.0.0.1/callback').split(','),
		grant_types: ['authorization_code'],
		response_types: ['code'],
		id_token_signed_response_alg: process.env.OIDC_ID_TOKEN_ALG || 'RS256',
	}],
	jwks: { keys },
	claims: { openid: ['sub'], email: ['email', 'email_verified'] },
	features: { devInteractions: { enabled: true } },
	// the scope's claims (email) in the ID token too, as Google sends them
	conformIdTokenClaims: false,
	pkce: { required: () => true },
	async findAccount(ctx, id) {
		const email = id.includes('@') ? id : `${id}@example.com`;
		return {
			accountId: id,
			async claims() {
				return { sub: id, email, email_verified: !id.startsWith('unverified') };
			},
		};
	},
});

const server = provider.listen(port, '127.0.0.1', () => {
	console.log(`ready ${issuer}`);
});
for (const sig of ['SIGTERM', 'SIGINT'])
	process.on(sig, () => server.close(() => process.exit(0)));
