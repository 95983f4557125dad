"""HTTP API of the rules app (SPEC §6). Views are thin: validate, call one service, render."""
