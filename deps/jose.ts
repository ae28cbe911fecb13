/**
 * jose (panva): JWS, JWT and JWKS, pinned once. Test-only: the JWT-validating gate in front of
 * MLflow (`tests/_peers/jwt_gate.ts`) and the identity provider's signing keys; the module and the
 * CLI read a JWT's `exp` without it.
 *
 * @module
 */
export * from "npm:jose@6.2.17";
