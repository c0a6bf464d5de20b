/**
 * The report's document model: titled sections of blocks. sections.ts and render.ts build them and render.ts
 * turns them into Markdown and HTML alike; both depend on this module, never on each other's types.
 */

/** A block of a report section. */
export type Block =
  | { kind: 'p'; text: string; strong?: boolean }
  | { kind: 'list'; items: string[]; ordered?: boolean }
  | { kind: 'table'; head: string[]; rows: string[][] }
  | {
      kind: 'chart';
      svg: string;
      alt: string;
      /** File name beside report.md (linked from it). */
      file: string;
    }
  | { kind: 'code'; text: string };

/** A titled section of the report. */
export interface Section {
  title: string;
  blocks: Block[];
}
