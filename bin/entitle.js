#!/usr/bin/env node
// The `entitle` command. `npm install` compiles the TypeScript to dist/ (the prepare script).
import '../dist/cli/entitle.js';
