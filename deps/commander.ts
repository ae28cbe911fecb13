/** The command-line parser (commander with typed options), pinned once. @module */
export * from "npm:@commander-js/extra-typings@15.1.0";
