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
 * lower-casing and dropping spaces, dashes and underscores.
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

export function normaliseOrder(text: string): Order | undefined {
  const key = text.toLowerCase().replace(/[\s_-]+/g, '');
  return ALIASES[key];
}

/** Whether the low word travels first (word order reversed). */
export function wordsReversed(order: Order): boolean {
  return order === 'CDAB' || order === 'DCBA';
}

/** Whether the two bytes inside each register are swapped. */
export function bytesSwapped(order: Order): boolean {
  return order === 'BADC' || order === 'DCBA';
}
