/** The Vault client SDK, pinned once. Loaded lazily by the vault provider only. @module */
export { default } from "npm:node-vault@0.12.0";
