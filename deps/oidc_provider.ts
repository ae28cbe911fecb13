/**
 * oidc-provider (panva), a certified OpenID Connect and OAuth 2.0 authorization server, pinned
 * once. Test-only: the identity provider the OAuth2 client-credentials tests run on loopback
 * (`tests/_peers/oidc.ts`); nothing the module or the CLI loads imports it. It ships no types.
 *
 * @module
 */
export { default, errors } from "npm:oidc-provider@9.13.3";
