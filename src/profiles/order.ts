/**
 * Byte/word order of multi-register values, in one vocabulary.
 *
 * Letters name the bytes of the value from most to least significant (A = most significant)
 * in the order they travel on the wire. For 64-bit values the same four names generalise:
 * ABCD = big-endian words and bytes, CDAB = low word first, BADC = bytes swapped inside each
 * word, DCBA = fully little-endian.
 */
export const ORDERS = ['ABCD', 'CDAB', 'BADC', 'DCBA'] as const;
export type Order = (typeof ORDERS)[number];

/**
 * Spellings other tools use (Telegraf, Home Assistant, ioBroker, Neuron, PLC manuals), after
 * lower-casing and dropping spaces, dashes, underscores, commas, dots, slashes and "+".
 */
const ALIASES: Record<string, Order> = {
  abcd: 'ABCD', ab: 'ABCD', abcdefgh: 'ABCD', big: 'ABCD', bigendian: 'ABCD', be: 'ABCD',
  highwordfirst: 'ABCD', msbfirst: 'ABCD', none: 'ABCD', '1234': 'ABCD',

  cdab: 'CDAB', ghefcdab: 'CDAB', word: 'CDAB', wordswap: 'CDAB', swapwords: 'CDAB', swapword: 'CDAB',
  littleendianword: 'CDAB', littleendianwordorder: 'CDAB', lowwordfirst: 'CDAB', '3412': 'CDAB',

  badc: 'BADC', ba: 'BADC', badcfehg: 'BADC', byte: 'BADC', byteswap: 'BADC', swapbytes: 'BADC',
  swapbyte: 'BADC', '2143': 'BADC',

  dcba: 'DCBA', hgfedcba: 'DCBA', little: 'DCBA', littleendian: 'DCBA', le: 'DCBA',
  wordbyte: 'DCBA', wordbyteswap: 'DCBA', byteword: 'DCBA', '4321': 'DCBA',
};

/** Every accepted spelling, for documentation and error messages. */
export const ORDER_ALIASES: Readonly<Record<string, Order>> = ALIASES;

/**
 * The "<endianness> [word swap] [byte swap]" names of Modbus Poll, Apache PLC4X and many
 * vendor tools: big-endian is ABCD and little-endian DCBA, a word swap reverses the order of
 * the registers and a byte swap the two bytes inside each one. So "big-endian byte swap" is
 * BADC, "little-endian byte swap" CDAB, "big-endian word swap" CDAB and "little-endian word
 * swap" BADC. "Mid-little endian" (CDAB) and "mid-big endian" (BADC) are the names some
 * manuals use for the two mixed orders.
 */
const WORD_SWAP = /(?:wordswap(?:ped)?|swap(?:ped)?words?)/;
const BYTE_SWAP = /(?:byteswap(?:ped)?|swap(?:ped)?bytes?)/;
const MIXED: Record<string, Order> = {
  midlittle: 'CDAB', midlittleendian: 'CDAB', middlelittleendian: 'CDAB',
  midbig: 'BADC', midbigendian: 'BADC', middlebigendian: 'BADC',
};

function composed(key: string): Order | undefined {
  const mixed = MIXED[key];
  if (mixed) return mixed;
  const m = /^(bigendian|littleendian|big|little|be|le)(?:with)?(.+)$/.exec(key);
  if (!m) return undefined;
  let rest = m[2]!;
  let words = false;
  let bytes = false;
  for (;;) {
    rest = rest.replace(/^(?:and|plus|with)/, '');
    const w = WORD_SWAP.exec(rest);
    const b = BYTE_SWAP.exec(rest);
    if (w?.index === 0 && !words) {
      words = true;
      rest = rest.slice(w[0].length);
    } else if (b?.index === 0 && !bytes) {
      bytes = true;
      rest = rest.slice(b[0].length);
    } else break;
  }
  if (rest !== '' || (!words && !bytes)) return undefined;
  let order = ALIASES[m[1]!]!;
  if (words) order = ({ ABCD: 'CDAB', CDAB: 'ABCD', BADC: 'DCBA', DCBA: 'BADC' } as const)[order];
  if (bytes) order = ({ ABCD: 'BADC', BADC: 'ABCD', CDAB: 'DCBA', DCBA: 'CDAB' } as const)[order];
  return order;
}

export function normaliseOrder(text: string): Order | undefined {
  const key = text.toLowerCase().replace(/[\s_,+/.-]+/g, '');
  return ALIASES[key] ?? composed(key);
}

/** Whether the low word travels first (word order reversed). */
export function wordsReversed(order: Order): boolean {
  return order === 'CDAB' || order === 'DCBA';
}

/** Whether the two bytes inside each register are swapped. */
export function bytesSwapped(order: Order): boolean {
  return order === 'BADC' || order === 'DCBA';
}
