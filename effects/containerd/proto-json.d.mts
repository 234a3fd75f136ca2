import type protobuf from 'protobufjs';

export declare const protoFiles: readonly string[];
export declare function parseContainerdProtos(): protobuf.Root;
export declare function containerdProtoJson(): protobuf.INamespace;
