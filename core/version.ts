// Kept by hand with package.json's version; a unit test checks they agree.
export const VERSION = '0.1.0';
