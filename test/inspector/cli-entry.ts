// Runs the statedock CLI from source (the tests of `statedock inspect` spawn it).
import { main } from '../../src/cli/main.ts';

process.exitCode = await main(process.argv.slice(2));
