/** AWS credential providers, pinned once. Loaded lazily by the AWS provider only. @module */
export * from "npm:@aws-sdk/credential-providers@3.1175.0";
