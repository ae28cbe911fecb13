/**
 * HTTP/1.1 syntax shared by the proxy's server (requests) and its upstream client (responses)
 * (RFC 9110, RFC 9112).
 *
 * @module
 */

/** A token: a method, a field name. */
export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** A field value: visible ASCII, obs-text, SP and HTAB inside; no CTL (NUL, CR, LF, DEL...). */
export const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** A chunk-size line: hex digits, then chunk extensions (ignored). */
export const CHUNK_SIZE = /^([0-9A-Fa-f]{1,12})(?:[ \t]*;[\t\x20-\x7e\x80-\xff]*)?$/;
/** Most header fields in a head, and most trailer fields after a chunked body. */
export const MAX_FIELDS = 100;
/** Longest chunk-size or trailer line. */
export const MAX_CHUNK_LINE = 4096;
