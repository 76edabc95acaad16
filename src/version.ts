// Imported, not read at run time: the bundle (rolldown.config.mjs) carries the version inside the
// program, whose modules sit in dist/<folder>/ wherever they were in src/.
import packageJson from '../package.json' with { type: 'json' };

export const version: string = packageJson.version;
