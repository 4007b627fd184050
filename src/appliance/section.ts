// One section of STATUS.txt: a title, its lines, and whether it found a problem.
export interface Section {
  title: string;
  lines: string[];
  ok: boolean;
}
