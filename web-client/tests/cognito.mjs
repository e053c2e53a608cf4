// A stand-in Amazon Cognito user pool for the sign-in test: an RSA key, a
// JWKS server on loopback for the gateway, and the Hosted UI's two endpoints
// (`/oauth2/authorize`, `/oauth2/token`) answered inside the browser by
// Playwright routes, which also check the PKCE exchange.

import { createHash, generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import http from 'node:http';

export const POOL_ID = 'us-east-1_WebTestPool';
export const ISSUER = `https://cognito-idp.us-east-1.amazonaws.com/${POOL_ID}`;
export const CLIENT_ID = 'spillwaywebclient';
export const DOMAIN = 'https://auth.spillway.test';

const b64url = (buf) => Buffer.from(buf).toString('base64url');

export async function startPool() {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = randomUUID();
  const jwks = { keys: [{ ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' }] };
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(jwks));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));

  const jwt = (claims) => {
    const header = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid }));
    const body = b64url(JSON.stringify(claims));
    const signature = sign('RSA-SHA256', Buffer.from(`${header}.${body}`), privateKey);
    return `${header}.${body}.${b64url(signature)}`;
  };

  /** Tokens shaped like the Hosted UI's for `user`. */
  const tokens = (user) => {
    const now = Math.floor(Date.now() / 1000);
    const common = { sub: randomUUID(), iss: ISSUER, iat: now, exp: now + 3600, auth_time: now };
    return {
      access_token: jwt({ ...common, token_use: 'access', client_id: CLIENT_ID, username: user, scope: 'openid' }),
      id_token: jwt({ ...common, token_use: 'id', aud: CLIENT_ID, 'cognito:username': user, email: `${user}@example.com` }),
      refresh_token: randomUUID(),
      expires_in: 3600,
      token_type: 'Bearer',
    };
  };

  /**
   * Answer the Hosted UI inside `page`: authorize redirects straight back
   * with a code; the token endpoint checks the PKCE verifier against the
   * challenge. Records what it saw in `seen`.
   */
  const serveHostedUi = async (page, user) => {
    const seen = { authorize: null, token: null, verified: false };
    let challenge = null;
    await page.route(`${DOMAIN}/oauth2/authorize**`, (route) => {
      const url = new URL(route.request().url());
      seen.authorize = Object.fromEntries(url.searchParams);
      challenge = url.searchParams.get('code_challenge');
      const back = new URL(url.searchParams.get('redirect_uri'));
      back.search = new URLSearchParams({ code: 'the-code', state: url.searchParams.get('state') }).toString();
      return route.fulfill({ status: 302, headers: { Location: back.toString() } });
    });
    await page.route(`${DOMAIN}/oauth2/token`, (route) => {
      const form = Object.fromEntries(new URLSearchParams(route.request().postData() ?? ''));
      seen.token = form;
      const cors = { 'Access-Control-Allow-Origin': '*' };
      const expected = challenge && b64url(createHash('sha256').update(form.code_verifier ?? '').digest());
      seen.verified = form.code === 'the-code' && form.grant_type === 'authorization_code' && expected === challenge;
      if (!seen.verified) return route.fulfill({ status: 400, headers: cors, json: { error: 'invalid_grant' } });
      return route.fulfill({ status: 200, headers: cors, json: tokens(user) });
    });
    return seen;
  };

  return {
    jwksUrl: `http://127.0.0.1:${server.address().port}/jwks.json`,
    serveHostedUi,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
