/** YAML parser (eemeli/yaml), pinned once for the whole project. @module */
export * from "npm:yaml@2.9.1";
