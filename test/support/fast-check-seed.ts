// Property tests draw their cases from one seed per run. CI uses a fixed seed so that a
// red build can be reproduced exactly; FC_SEED=<n> (or FC_SEED=random) explores others.
import fc from 'fast-check';

const env = process.env.FC_SEED;
const seed = env === undefined || env === '' ? 20261127 : env === 'random' ? Date.now() ^ (Math.random() * 0x7fffffff) : Number(env);
fc.configureGlobal({ seed });
