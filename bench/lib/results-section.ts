/**
 * A section of a generated report that another script owns: kept between two HTML comments, so
 * the script can replace its figures in place and the transfer bench can carry them over.
 */
export function markedSection(name: string, text: string): string {
  return `<!-- ${name}:start -->\n${text.trim()}\n<!-- ${name}:end -->`;
}

const sectionPattern = (name: string) => new RegExp(`<!-- ${name}:start -->[\\s\\S]*?<!-- ${name}:end -->`);

/** `markdown` with the section `name` replaced by `text`, or with it appended when absent. */
export function replaceSection(markdown: string, name: string, text: string): string {
  const marked = markedSection(name, text);
  const pattern = sectionPattern(name);
  return pattern.test(markdown) ? markdown.replace(pattern, () => marked) : `${markdown.trimEnd()}\n\n${marked}\n`;
}

/** The section `name` of `markdown`, markers included, if it has one. */
export function sectionOf(markdown: string, name: string): string | undefined {
  return sectionPattern(name).exec(markdown)?.[0];
}
