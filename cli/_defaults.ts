/**
 * Defaults the command line shares between modules that load separately (the `proxy` command,
 * its help, and the permissions `bundle` and `compile` grant), defined once here.
 *
 * @module
 */

/** Where the `proxy` command listens when neither `--listen` nor `proxy.listen` says. */
export const DEFAULT_LISTEN = "127.0.0.1:5055";
