/** The AWS Secrets Manager SDK, pinned once. Loaded lazily by its provider only. @module */
export * from "npm:@aws-sdk/client-secrets-manager@3.1164.0";
