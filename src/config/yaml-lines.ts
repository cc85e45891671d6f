import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';

export interface LocatedDocument {
  doc: Document;
  lineAtOffset(offset: number): number;
  lineOf(path: readonly PropertyKey[]): number;
}

/**
 * Parses YAML keeping positions, so that any problem found later (by zod, by a
 * cross-reference check) can be reported at the line the user has to edit.
 */
export function parseLocated(text: string): LocatedDocument {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const lineAt = (offset: number | undefined) => (offset === undefined ? 0 : lineCounter.linePos(offset).line);

  function lineOf(path: readonly PropertyKey[]): number {
    let node: unknown = doc.contents;
    let best = lineAt((doc.contents as { range?: [number] } | null)?.range?.[0]);
    for (const seg of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
        if (!pair) return best;
        const keyRange = (pair.key as { range?: [number] }).range;
        best = lineAt(keyRange?.[0]) || best;
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number') {
        const item = node.items[seg] as { range?: [number] } | undefined;
        if (!item) return best;
        best = lineAt(item.range?.[0]) || best;
        node = item;
      } else {
        return best;
      }
    }
    return best;
  }
  return { doc, lineOf, lineAtOffset: (offset) => lineAt(offset) };
}
