// Every activity the worker registers, one component per file. Workflows import this
// module as types only.
export {};
