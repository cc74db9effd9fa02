// The lab's public API: machines on one box for end-to-end tests and the demo.
export { Lab, type MachineStatus } from './lab';
export { LabError } from './prereq';
export type { Partition } from './network';
export { labPaths, LAB_PACKAGES, LAB_SECRET_VARIABLES, LAB_USER } from './paths';
