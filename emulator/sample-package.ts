/**
 * Writes a small "Customers V3" data package to stdout (or to the path given as first argument),
 * for trying the emulator by hand: `npx tsx emulator/sample-package.ts customers.zip`.
 * Three good rows, one row with the bad-value marker, one without key and one duplicate key, so an
 * import ends PartiallySucceeded with three staging errors.
 */
import { writeFileSync } from 'node:fs';
import { buildPackage } from './package.js';

const zip = await buildPackage({
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
const target = process.argv[2];
if (target) writeFileSync(target, zip);
else process.stdout.write(zip);
