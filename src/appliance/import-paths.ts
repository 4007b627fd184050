// Where the boot-time import reads the card and writes the box's working files.
import type { Owner } from './fsutil';
import type { Accounts } from './users-import';

export interface ImportPaths {
  /** The FAT boot partition (/boot/firmware). */
  boot: string;
  /** The data partition (/var/lib/relaybox): secrets, the working configuration, the spool. */
  data: string;
  /** Where generated network, time and SSH settings go (/run). */
  run: string;
  zoneinfo?: string;
  /** The relay's user: owns the secrets and the spool. */
  owner?: Owner;
  /** Where the data partition is mounted at run time, which the spool must be under (default: /var/lib/relaybox). */
  dataMount?: string;
  /** The box's accounts, for the users file (left alone without). */
  accounts?: Accounts;
}
