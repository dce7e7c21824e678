// The browser reference, timed: @tensorflow-models/posenet 2.2.2 on tfjs-core 3.21's WASM backend under
// Node.js, pure JavaScript and WebAssembly (no tfjs-node). Driven by benchmarks/bench_tfjs.py:
//
//   node posenet_wasm.js MODEL.json IMAGES.json
//
// MODEL.json: a tfjs graph model, loaded from its local folder (no server). IMAGES.json: {"width", "height"
// (the network input), "images": [{"name", "width", "height", "file"}]} with each file raw RGB bytes, decoded
// by the caller. Start-up (loading the backend and model, one warm-up pass over every image) happens before
// "ready" is printed; then every line read from stdin runs one round over all images and prints one JSON line:
// {"wall_ms": [per image], "cpu_ms": process CPU time of the round (all threads), "poses": [per image]}.
"use strict";

const fs = require("fs");
const path = require("path");
const readline = require("readline");
const tf = require("@tensorflow/tfjs-core");
require("@tensorflow/tfjs-backend-wasm");
const posenet = require("@tensorflow-models/posenet");

function localModel(modelJson) {
  // A tfjs IOHandler reading a graph model and its weight shards from disk.
  return {
    load: async () => {
      const json = JSON.parse(fs.readFileSync(modelJson, "utf8"));
      const dir = path.dirname(modelJson);
      const weightSpecs = [];
      const buffers = [];
      for (const group of json.weightsManifest) {
        weightSpecs.push(...group.weights);
        for (const p of group.paths) buffers.push(fs.readFileSync(path.join(dir, p)));
      }
      const all = Buffer.concat(buffers);
      const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
      return { modelTopology: json.modelTopology, weightSpecs, weightData, format: json.format };
    },
  };
}

function readImages(manifestPath) {
  const manifest = JSON.parse(fs.readFileSync(manifestPath, "utf8"));
  const dir = path.dirname(manifestPath);
  const images = manifest.images.map((im) => ({
    name: im.name,
    shape: [im.height, im.width, 3],
    pixels: Int32Array.from(fs.readFileSync(path.join(dir, im.file))),
  }));
  return { manifest, images };
}

async function estimate(net, image) {
  const input = tf.tensor3d(image.pixels, image.shape, "int32"); // what tf.browser.fromPixels gives
  const poses = await net.estimateMultiplePoses(input, { flipHorizontal: false });
  input.dispose();
  return poses;
}

async function round(net, images) {
  const wall = [];
  const poses = [];
  const cpu0 = process.cpuUsage();
  for (const image of images) {
    const t0 = process.hrtime.bigint();
    poses.push(await estimate(net, image));
    wall.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const cpu = process.cpuUsage(cpu0);
  return { wall_ms: wall, cpu_ms: (cpu.user + cpu.system) / 1e3, poses };
}

async function main() {
  const [modelJson, manifestPath] = process.argv.slice(2);
  const { manifest, images } = readImages(manifestPath);
  await tf.setBackend("wasm");
  await tf.ready();
  const net = await posenet.load({
    architecture: "MobileNetV1", outputStride: 16, multiplier: 0.75, quantBytes: 2,
    inputResolution: { width: manifest.width, height: manifest.height }, modelUrl: localModel(modelJson),
  });
  await round(net, images); // warm-up: kernels compiled, buffers allocated
  const flags = {
    backend: tf.getBackend(), tfjs: tf.version_core, posenet: posenet.version,
    simd: await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT"),
    threads: await tf.env().getAsync("WASM_HAS_MULTITHREAD_SUPPORT"),
  };
  process.stdout.write(JSON.stringify({ ready: true, ...flags }) + "\n");
  const lines = readline.createInterface({ input: process.stdin });
  for await (const _ of lines) {
    process.stdout.write(JSON.stringify(await round(net, images)) + "\n");
  }
}

main().catch((e) => {
  process.stderr.write(`${e.stack || e}\n`);
  process.exit(1);
});
