/** Azure credentials (azure-identity), pinned once. Loaded lazily by its provider only. @module */
export * from "npm:@azure/identity@4.14.1";
