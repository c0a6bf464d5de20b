import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { headerNames } from '../../src/data/leakage/load.js';
import { tempDir } from '../helpers/project.js';

describe('headerNames', () => {
  it('reads quoted names, doubled quotes and CRLF line ends without reading the data', () => {
    const p = join(tempDir('ratchet-hdr-'), 'x.csv');
    writeFileSync(p, 'id,"mean radius","a,b","say ""hi"""\r\n1,2,3,4\r\n');
    expect(headerNames(p)).toEqual(['id', 'mean radius', 'a,b', 'say "hi"']);
  });

  it('reads a header longer than one buffer, and a file with a header only', () => {
    const p = join(tempDir('ratchet-hdr-'), 'x.csv');
    const names = Array.from({ length: 9000 }, (_, i) => `column_${i}`);
    writeFileSync(p, `${names.join(',')}\n`);
    expect(headerNames(p)).toEqual(names);
    writeFileSync(p, 'a,b');
    expect(headerNames(p)).toEqual(['a', 'b']);
  });
});
