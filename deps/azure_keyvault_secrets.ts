/** The Azure Key Vault secrets SDK, pinned once. Loaded lazily by its provider only. @module */
export * from "npm:@azure/keyvault-secrets@4.12.0";
