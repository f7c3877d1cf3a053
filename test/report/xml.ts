// A strict well-formedness check for the SVG the report writes: every tag
// closed in order, attributes quoted and unique, text without a raw '<' or a
// bare '&'. (The DOM parsers at hand are lenient and would accept broken
// markup.)

export function xmlProblems(xml: string): string[] {
  const problems: string[] = [];
  const stack: string[] = [];
  const token = /<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*(\/?)>|<!--[\s\S]*?-->|<\?[\s\S]*?\?>|([^<]+)|(<)/g;
  let m: RegExpExecArray | null;
  while ((m = token.exec(xml))) {
    const [, closing, name, attrs, selfClosing, text, stray] = m;
    if (stray) {
      problems.push(`stray '<' at ${m.index}: ${xml.slice(m.index, m.index + 40)}`);
      continue;
    }
    if (text !== undefined) {
      const bad = text.match(/&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/);
      if (bad) problems.push(`bare '&' in text at ${m.index}`);
      continue;
    }
    if (!name) continue;
    if (closing) {
      const open = stack.pop();
      if (open !== name) problems.push(`</${name}> closes <${open ?? 'nothing'}>`);
      continue;
    }
    const names = [...(attrs ?? '').matchAll(/([\w:.-]+)\s*=/g)].map((a) => a[1]);
    if (new Set(names).size !== names.length) problems.push(`<${name}> repeats an attribute`);
    if (!selfClosing) stack.push(name);
  }
  if (stack.length) problems.push(`unclosed: ${stack.join(' > ')}`);
  return problems;
}
