// The README's settings reference is generated from the registry; this keeps the two equal.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import test from 'node:test';
import { settingsReferenceMarkdown } from '../../runtime/src/core/settings';
import { README, currentSection } from '../update-readme';

test('README settings reference matches the settings registry (fix: npm run docs)', () => {
  const readme = fs.readFileSync(README, 'utf8');
  assert.equal(currentSection(readme).trim(), settingsReferenceMarkdown().trim(), 'README.md is out of date — run `npm run docs`');
});

test('README documents the two commands and the CLI usage', () => {
  const readme = fs.readFileSync(README, 'utf8');
  for (const text of ['npm install && npm start', 'npm test', 'unicorn [OPTIONS] APP_MODULE', 'unicorn-django', 'UNICORN_CMD_ARGS']) {
    assert.ok(readme.includes(text), `README.md should mention ${text}`);
  }
});
