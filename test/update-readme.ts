// `npm run docs`: rewrites README.md's settings reference from the settings registry.
// The readme test fails when the two differ, and points here.
import fs from 'node:fs';
import path from 'node:path';
import { settingsReferenceMarkdown } from '../runtime/src/core/settings';

export const README = path.resolve(__dirname, '..', 'README.md');
export const BEGIN = '<!-- settings:begin -->';
export const END = '<!-- settings:end -->';

/** Where the generated section sits in the README: the text strictly between the markers. */
export function sectionBounds(readme: string): { start: number; end: number } {
  const begin = readme.indexOf(BEGIN);
  const end = readme.indexOf(END);
  if (begin < 0 || end < 0 || end < begin || readme.indexOf(BEGIN, begin + 1) >= 0) {
    throw new Error(`README.md must hold exactly one ${BEGIN} … ${END} pair, in that order`);
  }
  return { start: begin + BEGIN.length, end };
}

export function currentSection(readme: string): string {
  const { start, end } = sectionBounds(readme);
  return readme.slice(start, end);
}

export function withSection(readme: string, markdown: string): string {
  const { start, end } = sectionBounds(readme);
  return `${readme.slice(0, start)}\n\n${markdown.trim()}\n\n${readme.slice(end)}`;
}

function main(): void {
  const before = fs.readFileSync(README, 'utf8');
  const after = withSection(before, settingsReferenceMarkdown());
  if (after === before) {
    console.log('README.md: settings reference already up to date');
    return;
  }
  fs.writeFileSync(README, after);
  console.log('README.md: settings reference rewritten from runtime/src/core/settings.ts');
}

if (require.main === module) {
  try {
    main();
  } catch (e) {
    console.error(`docs: ${(e as Error).message}`);
    process.exit(1);
  }
}
