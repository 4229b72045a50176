#!/usr/bin/env node
// The `scrapehook` command (package.json "bin"): see `scrapehook --help` and the README's CLI section.
import { main } from './cli/main.ts';

process.exitCode = await main(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
});
