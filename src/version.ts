/** statedock's version (package.json's; a test keeps them equal). */
export const version = '0.1.0';
