/** Data packages: read, validate and build F&O DMF packages (.zip with Manifest.xml). */
export * from './codes.js';
export * from './source.js';
export * from './blob-source.js';
export * from './xml.js';
export * from './manifest.js';
export * from './names.js';
export * from './reader.js';
export * from './validate.js';
export * from './builder.js';
export * from './detect.js';
export * from './entities.js';
export * from './definition.js';
