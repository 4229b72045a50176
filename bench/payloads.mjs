// Deterministic Firecrawl `crawl.page` webhook bodies for the benchmark.
//
// Everything here is a pure function of its arguments: the markdown comes from a
// fixed-seed PRNG, ids come from a hash of the body index. No Math.random, no clock.
//
// A body is the JSON
//   {"success":true,"type":"crawl.page","id":"<uuid>","webhookId":"<uuid>",
//    "data":[{"markdown":"...","metadata":{"title":..,"url":..,"sourceURL":..,
//             "statusCode":200,"scrapeId":"<uuid>"}}],"metadata":{}}
// Bodies of one size differ only in the three uuids (fixed length), so all bodies
// of a size have exactly the same byte length and are built by splicing uuids into
// a precomputed template.

import { createHmac } from 'node:crypto';

export const SECRET = 'bench-secret';
export const SIGNATURE_HEADER = 'x-firecrawl-signature';
export const HOOK_PATH = '/hook';

/** Payload name -> exact total body size in bytes. */
export const PAYLOAD_SIZES = { '2kb': 2048, '256kb': 256 * 1024 };

// ---------------------------------------------------------------------------
// Deterministic PRNG (mulberry32) and uuid derivation.

function mulberry32(seed) {
  let a = seed >>> 0;
  return function next() {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// 32-bit integer mixer (lowbias32); good enough to make ids look random.
function mix32(x) {
  x = x >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

const hex8 = (n) => n.toString(16).padStart(8, '0');

/** A v4-shaped uuid, deterministic in (salt, index), distinct for distinct index. */
export function benchUuid(salt, index) {
  // The first word is a bijection of the index (mix32 is invertible), so ids never
  // collide for index < 2^32; the remaining words only add realistic-looking noise.
  const w0 = mix32(index ^ Math.imul(salt, 0x9e3779b9));
  const w1 = mix32(w0 + salt * 7 + 1);
  const w2 = mix32(w1 + 0x1234567);
  const w3 = mix32(w2 + 0x89abcdef);
  const a = hex8(w0);
  const b = hex8(w1);
  const c = hex8(w2);
  const d = hex8(w3);
  const variant = ((parseInt(c[0], 16) & 0x3) | 0x8).toString(16);
  return `${a}-${b.slice(0, 4)}-4${b.slice(5, 8)}-${variant}${c.slice(1, 4)}-${c.slice(4, 8)}${d}`;
}

// ---------------------------------------------------------------------------
// Markdown that looks like scraped web text: mostly ASCII words, with the
// non-ASCII characters real pages are full of (typographic quotes and
// apostrophes, dashes, ellipses, accented words, the odd CJK phrase).

const WORDS = (
  'the of and to in is for that on with as are this by from at be it an or your ' +
  'page data crawl scrape website content request response server client browser ' +
  'product price customer service support account team platform release feature ' +
  'update version guide install configure deploy cloud storage network security ' +
  'performance latency throughput cache queue worker event webhook payload schema ' +
  'document article section table image link header footer sidebar navigation menu ' +
  'search result filter sort order shipping delivery return policy privacy terms ' +
  'cookie consent newsletter subscribe contact about blog news press careers pricing ' +
  'enterprise developer api reference example tutorial overview introduction summary ' +
  'quickly easily simply reliable scalable modern open source community project build ' +
  'report analysis market growth revenue quarter annual million billion percent ' +
  'users teams companies across global regional local new best top free fast simple'
).split(' ');

const ACCENTED = [
  'café', 'résumé', 'naïve', 'déjà vu', 'Zürich', 'São Paulo', 'façade', 'crème brûlée',
  'München', 'señor', 'Málaga', 'coöperate', 'jalapeño', 'Ångström', 'Kraków', 'entrée',
];
const CJK = ['网页抓取', '数据', '東京', 'ウェブ', '개발자', '日本語', '价格', '検索結果', '中文'];
const CONTRACTIONS = ['it’s', 'don’t', 'we’re', 'you’ll', 'can’t', 'that’s', 'there’s', 'isn’t'];
const DOMAINS = ['docs.example.com', 'shop.example.org', 'news.example.net', 'www.example.com'];

function makeMarkdownGenerator(seed) {
  const rnd = mulberry32(seed);
  const pick = (arr) => arr[Math.floor(rnd() * arr.length)];
  const cap = (s) => s.charAt(0).toUpperCase() + s.slice(1);

  function word() {
    const r = rnd();
    if (r < 0.012) return pick(ACCENTED);
    if (r < 0.016) return pick(CJK);
    if (r < 0.035) return pick(CONTRACTIONS);
    if (r < 0.045) return String(Math.floor(rnd() * 2000));
    return pick(WORDS);
  }

  function sentence() {
    const n = 6 + Math.floor(rnd() * 14);
    const parts = [];
    for (let i = 0; i < n; i++) parts.push(word());
    if (rnd() < 0.25) {
      // a “quoted phrase”
      const at = Math.floor(rnd() * (parts.length - 2));
      parts[at] = '“' + parts[at];
      parts[at + 1] = parts[at + 1] + '”';
    }
    if (rnd() < 0.2) {
      const at = 1 + Math.floor(rnd() * (parts.length - 1));
      parts.splice(at, 0, '—');
    }
    if (rnd() < 0.08) {
      const at = 1 + Math.floor(rnd() * (parts.length - 1));
      parts[at] = `[${parts[at]}](https://${pick(DOMAINS)}/${pick(WORDS)}/${pick(WORDS)})`;
    }
    if (rnd() < 0.06) {
      const at = Math.floor(rnd() * parts.length);
      parts[at] = '`' + parts[at] + '`';
    }
    const end = rnd() < 0.05 ? '…' : rnd() < 0.1 ? '?' : '.';
    return cap(parts.join(' ')) + end;
  }

  // Yields successive markdown blocks (each ending with a blank line).
  return function nextBlock() {
    const r = rnd();
    if (r < 0.08) return `## ${cap(word())} ${word()} ${word()}\n\n`;
    if (r < 0.18) {
      const items = 2 + Math.floor(rnd() * 4);
      let s = '';
      for (let i = 0; i < items; i++) s += `- ${sentence()}\n`;
      return s + '\n';
    }
    if (r < 0.22) return `| Plan | Price | Notes |\n|---|---|---|\n| ${cap(word())} | $${Math.floor(rnd() * 99)} | ${sentence()} |\n\n`;
    const n = 2 + Math.floor(rnd() * 5);
    const s = [];
    for (let i = 0; i < n; i++) s.push(sentence());
    return s.join(' ') + '\n\n';
  };
}

/** JSON-encoded UTF-8 length of a string, without the surrounding quotes. */
function jsonBytes(s) {
  return Buffer.byteLength(JSON.stringify(s), 'utf8') - 2;
}

/** Markdown whose JSON-encoded UTF-8 length is exactly `bytes`. */
export function makeMarkdown(bytes, seed = 20240601) {
  const nextBlock = makeMarkdownGenerator(seed);
  let md = '# Scrapehook benchmark page — a “realistic” crawl result\n\n';
  let len = jsonBytes(md);
  for (;;) {
    const block = nextBlock();
    const blen = jsonBytes(block);
    if (len + blen > bytes) break;
    md += block;
    len += blen;
  }
  // Fill the remainder with plain ASCII words (1 byte per char in JSON too).
  while (len < bytes) {
    const w = len + 1 < bytes ? ' ' + WORDS[len % WORDS.length] : '.';
    const take = w.slice(0, bytes - len);
    md += take;
    len += take.length;
  }
  return md;
}

// ---------------------------------------------------------------------------
// Body template and signing.

// Placeholders have the same length as a uuid (36) so sizes are stable.
const PH_ID = '@@@@@@@@-@@@@-@@@@-@@@@-@@@@@@@@@@@I';
const PH_WID = '@@@@@@@@-@@@@-@@@@-@@@@-@@@@@@@@@@@W';
const PH_SID = '@@@@@@@@-@@@@-@@@@-@@@@-@@@@@@@@@@@S';

const SALT_ID = 1;
const SALT_WID = 2;
const SALT_SID = 3;

function buildTemplate(totalBytes) {
  const skeleton = (markdown) => ({
    success: true,
    type: 'crawl.page',
    id: PH_ID,
    webhookId: PH_WID,
    data: [
      {
        markdown,
        metadata: {
          title: 'Scrapehook benchmark page — pricing, docs & more',
          url: 'https://www.example.com/docs/getting-started/webhooks',
          sourceURL: 'https://www.example.com/docs/getting-started/webhooks',
          statusCode: 200,
          scrapeId: PH_SID,
        },
      },
    ],
    metadata: {},
  });
  const overhead = Buffer.byteLength(JSON.stringify(skeleton('')), 'utf8');
  if (overhead >= totalBytes) throw new Error(`payload size ${totalBytes} is smaller than the envelope (${overhead})`);
  const markdown = makeMarkdown(totalBytes - overhead);
  const json = JSON.stringify(skeleton(markdown));
  const bytes = Buffer.from(json, 'utf8');
  if (bytes.length !== totalBytes) throw new Error(`template is ${bytes.length} bytes, wanted ${totalBytes}`);
  const off = (ph) => {
    const i = bytes.indexOf(ph, 0, 'latin1');
    if (i < 0 || bytes.indexOf(ph, i + 1, 'latin1') >= 0) throw new Error('placeholder not unique');
    return i;
  };
  return { bytes, markdown, offsets: { id: off(PH_ID), webhookId: off(PH_WID), scrapeId: off(PH_SID) } };
}

const templates = new Map();
function template(name) {
  const size = PAYLOAD_SIZES[name];
  if (!size) throw new Error(`unknown payload "${name}" (known: ${Object.keys(PAYLOAD_SIZES).join(', ')})`);
  let t = templates.get(name);
  if (!t) templates.set(name, (t = buildTemplate(size)));
  return t;
}

export function sign(body, secret = SECRET) {
  return 'sha256=' + createHmac('sha256', secret).update(body).digest('hex');
}

/** Write body number `index` of payload `name` into `target` at `offset`. */
function writeBody(t, index, target, offset) {
  t.bytes.copy(target, offset);
  target.write(benchUuid(SALT_ID, index), offset + t.offsets.id, 'latin1');
  target.write(benchUuid(SALT_WID, index), offset + t.offsets.webhookId, 'latin1');
  target.write(benchUuid(SALT_SID, index), offset + t.offsets.scrapeId, 'latin1');
}

/** One signed body (fresh buffer). */
export function makeBody(name, index) {
  const t = template(name);
  const body = Buffer.allocUnsafe(t.bytes.length);
  writeBody(t, index, body, 0);
  return { body, signature: sign(body), webhookId: benchUuid(SALT_WID, index) };
}

/**
 * `count` distinct pre-signed bodies, stored back to back in slabs of at most
 * 256 MiB (Buffer offsets past 2 GiB are not safe to write to).
 * body(i) returns a view (no copy); signature(i) the header value.
 */
export function makeBodyPool(name, count) {
  const t = template(name);
  const size = t.bytes.length;
  const perSlab = Math.max(1, Math.floor((256 * 2 ** 20) / size));
  const slabs = [];
  const signatures = new Array(count);
  for (let first = 0; first < count; first += perSlab) {
    const n = Math.min(perSlab, count - first);
    const slab = Buffer.allocUnsafeSlow(size * n);
    for (let j = 0; j < n; j++) {
      const off = j * size;
      writeBody(t, first + j, slab, off);
      signatures[first + j] = sign(slab.subarray(off, off + size));
    }
    slabs.push(slab);
  }
  const body = (i) => {
    const j = i % perSlab;
    return slabs[(i - j) / perSlab].subarray(j * size, (j + 1) * size);
  };
  // Self-check a few bodies: right id, right signature.
  for (const i of [0, Math.floor(count / 2), count - 1]) {
    const b = body(i);
    const parsed = JSON.parse(b.toString('utf8'));
    if (parsed.webhookId !== benchUuid(SALT_WID, i) || sign(b) !== signatures[i]) {
      throw new Error(`body pool self-check failed at index ${i}`);
    }
  }
  return { name, size, count, body, signature: (i) => signatures[i] };
}

/** Facts about a payload, for the report. */
export function describePayload(name) {
  const t = template(name);
  const md = t.markdown;
  let nonAscii = 0;
  let cjk = 0;
  for (const ch of md) {
    const c = ch.codePointAt(0);
    if (c > 0x7f) nonAscii++;
    if (c >= 0x2e80) cjk++;
  }
  const chars = [...md].length;
  return {
    name,
    bytes: t.bytes.length,
    markdownChars: chars,
    nonAsciiChars: nonAscii,
    nonAsciiPerMille: Math.round((nonAscii / chars) * 10000) / 10,
    cjkChars: cjk,
  };
}
