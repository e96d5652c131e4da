// Types for dist-freshness.mjs (plain JavaScript so the wrapper needs no compiler).
export declare const BUILD_STAMP: string;
export declare function newestSourceMs(root: string): number;
export declare function distIsFresh(root: string): boolean;
