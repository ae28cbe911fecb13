/**
 * What an auth method gives the session: either a login request to post (AppRole, Kubernetes)
 * or a token read from where the user keeps it (token, token file); and the words the error
 * messages use to name the method and say what to check.
 *
 * @module
 */

/** A login to post to Vault. */
export interface LoginRequest {
  /** The node-vault call that posts it. */
  readonly method: "approle" | "kubernetes";
  /** The auth mount, without slashes, e.g. `approle`. */
  readonly mount: string;
  /** The API path below `/v1/`, e.g. `auth/approle/login`. */
  readonly path: string;
  /** The login fields (credentials: already registered with the redactor). */
  readonly body: Readonly<Record<string, string>>;
}

/** What every auth method tells the error messages. */
export interface AuthMethodBase {
  /** e.g. `auth method approle on "auth/approle"`, for messages. */
  readonly description: string;
  /** What to do when Vault refuses the token the method gave. */
  readonly tokenHint: string;
}

/** A method that logs in to obtain a token: AppRole or Kubernetes. */
export interface LoginMethod extends AuthMethodBase {
  /** The method's profile name. */
  readonly method: "approle" | "kubernetes";
  /** The auth mount, without slashes. */
  readonly mount: string;
  /** `AppRole` or `Kubernetes`, for messages. */
  readonly label: string;
  /** What to check when a login fails. */
  readonly loginHint: string;
  /** What to check when a login is answered 403. */
  readonly loginDeniedHint: string;
  /**
   * Reads the method's credentials (at each login, so a rotated one is picked up) and builds
   * the login.
   */
  loginRequest(): Promise<LoginRequest>;
}

/** A method that reads a token the user provides: token or token file. */
export interface TokenSource extends AuthMethodBase {
  /** The method's profile name. */
  readonly method: "token" | "token_file";
  /**
   * The token to use, re-read when its source changed.
   *
   * @param force Read it again even if it seems unchanged.
   */
  token(force: boolean): Promise<string>;
  /** Forgets what was read (on `close`). */
  forget(): void;
}

/** How the provider obtains a Vault token. */
export type AuthMethod = LoginMethod | TokenSource;

/**
 * Whether the method logs in (and so can log in again after a 403 or at expiry).
 *
 * @param auth An auth method.
 * @returns Whether it is AppRole or Kubernetes.
 */
export function canLogin(auth: AuthMethod): auth is LoginMethod {
  return auth.method === "approle" || auth.method === "kubernetes";
}
