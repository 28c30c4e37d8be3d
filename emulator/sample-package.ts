/**
 * Writes a small data package to stdout (or to the path given as first argument), for trying the
 * emulator by hand: `npx tsx emulator/sample-package.ts customers.zip`.
 * Default: "Customers V3" with three good rows, one row with the bad-value marker, one without key
 * and one duplicate key, so an import ends PartiallySucceeded with three staging errors.
 * `--orders`: the order batch of the built-in `OrdersBatch` project ("Sales order headers V2" then
 * "Sales order lines V2", see sales-orders.ts), which imports in one execution and succeeds.
 */
import { writeFileSync } from 'node:fs';
import { buildPackage } from './package.js';
import { buildOrdersBatchPackage } from './sales-orders.js';

const USAGE = `Usage: npx tsx emulator/sample-package.ts [--orders] [file.zip]

Writes a small data package to file.zip (or to stdout, when it is not a terminal).
  (default)  "Customers V3": three good rows, one with #BAD#, one without key, one duplicate key;
             an import of it ends PartiallySucceeded with three errors (project Customers)
  --orders   the OrdersBatch package: "Sales order headers V2" then "Sales order lines V2"
`;
const args = process.argv.slice(2);
const fail = (message: string): never => {
  process.stderr.write(`${message}\n\n${USAGE}`);
  process.exit(2);
};
if (args.includes('--help') || args.includes('-h')) {
  process.stdout.write(USAGE);
  process.exit(0);
}
// a flag it does not know is refused, never taken as a file name (`--help` once wrote a file so named)
const unknown = args.find((a) => a.startsWith('-') && a !== '--orders');
if (unknown) fail(`Unknown option ${unknown}.`);
const files = args.filter((a) => !a.startsWith('-'));
if (files.length > 1) fail(`One file at most, got ${files.join(', ')}.`);
const target = files[0];
if (!target && process.stdout.isTTY) fail('Give a file name: a zip is not for the terminal.');
const zip = args.includes('--orders')
  ? await buildOrdersBatchPackage()
  : await buildPackage({
      definitionGroupName: 'CustomerImport',
      entities: [
        {
          entityName: 'Customers V3',
          columns: ['CUSTOMERACCOUNT', 'NAME', 'CUSTOMERGROUPID'],
          rows: [
            ['US-001', 'Contoso', '10'],
            ['US-002', 'Fabrikam #BAD#', '10'],
            ['', 'No key', '10'],
            ['US-001', 'Duplicate', '10'],
            ['US-003', 'Adatum', '20'],
            ['US-004', 'Litware', '20'],
          ],
        },
      ],
    });
if (target) writeFileSync(target, zip);
else process.stdout.write(zip);
