// Text into Markdown: characters that would start emphasis, code, a link or
// an HTML tag are escaped, so a study's words print as written.

export function markdownText(s: string): string {
  return s.replace(/[\\`*_[\]]/g, (ch) => `\\${ch}`).replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
