@group(0) @binding(3) var<storage, read_write> v13: array<f32>;
@group(0) @binding(2) var<storage, read_write> v9: array<i32>;
@group(0) @binding(1) var<storage, read_write> v5: array<i32>;
@group(0) @binding(0) var<storage, read_write> v1: array<f32>;
struct info_st { scalars_u32: array<u32, 2>, static_meta: array<u32, 4> }
@group(0) @binding(4) var<storage, read> info_var: info_st;
@compute @workgroup_size(256, 1, 1)
fn segment_sum_kernel_f_f32_i_i32_96fc3f53(@builtin(workgroup_id) v177: vec3<u32>, @builtin(num_workgroups) v179: vec3<u32>, @builtin(local_invocation_index) v186: u32) {
let v216 = &v13;
let v217 = &v9;
let v218 = &v5;
let v219 = &v1;
var<function> inv_return_flag_v77_store: bool= true;
let inv_return_flag_v77 = &inv_return_flag_v77_store;
let v81 = info_var.static_meta[3];
let v17 = info_var.scalars_u32[0];
let v178 = v177[2];
let v86 = u32(v178);
let v180 = v179[1];
let v88 = u32(v180);
let v89 = v86 * v88;
let v181 = v179[0];
let v91 = u32(v181);
let v92 = v89 * v91;
let v182 = v177[1];
let v94 = u32(v182);
let v97 = v94 * v91;
let v98 = v92 + v97;
let v184 = v177[0];
let v100 = u32(v184);
let v101 = v98 + v100;
let v212 = u32(256);
let v104 = v101 * v212;
let v187 = v186;
let v106 = u32(v187);
let v107 = v104 + v106;
let v20 = v107 >= v81;
if v20 {
let v21 = false;
*inv_return_flag_v77 = v21;

}
let v22 = *inv_return_flag_v77;
if v22 {
let v23 = u32(v17);
let v25 = v107 / v23;
let v27 = v107 % v23;
let v31 = &(*v217)[v25];
let v32 = *v31;
let v33 = u32(v32);
let v34 = u32(v33);
let v35 = u32(1);
let v36 = v25 + v35;
let v40 = &(*v217)[v36];
let v41 = *v40;
let v42 = u32(v41);
let v43 = u32(v42);
let v44 = f32(0.0);
var<function> v82_store: f32;
let v82 = &v82_store;
*v82 = v44;
var<function> v83_store: u32;
let v83 = &v83_store;
*v83 = v34;
loop {
let v48 = *v83;
let v49 = v48 < v43;
if !v49 { break; }
let v53 = *v83;
let v55 = &(*v218)[v53];
let v56 = *v55;
let v57 = u32(v56);
let v58 = u32(v57);
let v59 = v58 * v23;
let v60 = v59 + v27;
let v64 = &(*v219)[v60];
let v65 = *v64;
let v66 = *v82;
let v67 = v66 + v65;
*v82 = v67;
let v68 = *v83;
let v70 = v68 + v35;
*v83 = v70;

}
let v75 = &(*v216)[v107];
let v76 = *v82;
*v75 = v76;

}
return;

}
