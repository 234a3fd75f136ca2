export declare function containerdCodecsSource(): string;
