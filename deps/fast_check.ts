/** fast-check, for the property-based tests only (never imported by mod.ts or cli.ts). */
export { default } from "npm:fast-check@4.11.0";
export * from "npm:fast-check@4.11.0";
