// Serial HDF5 for Swift: the predefined types, property-list classes and access flags are macros
// over library globals (and H5open calls), which Swift cannot import, so each gets an accessor here.
#ifndef TRAINER_CHDF5_SHIM_H
#define TRAINER_CHDF5_SHIM_H
#include <hdf5.h>

static inline hid_t shim_h5p_default(void) { return H5P_DEFAULT; }
static inline hid_t shim_h5s_all(void) { return H5S_ALL; }
static inline hid_t shim_h5e_default(void) { return H5E_DEFAULT; }
static inline hid_t shim_h5p_file_access(void) { return H5P_FILE_ACCESS; }
static inline hid_t shim_h5p_dataset_create(void) { return H5P_DATASET_CREATE; }
static inline hid_t shim_h5p_link_create(void) { return H5P_LINK_CREATE; }
static inline hid_t shim_h5p_dataset_access(void) { return H5P_DATASET_ACCESS; }
static inline unsigned shim_h5f_acc_trunc(void) { return H5F_ACC_TRUNC; }
static inline unsigned shim_h5f_acc_excl(void) { return H5F_ACC_EXCL; }
static inline unsigned shim_h5f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned shim_h5f_acc_rdwr(void) { return H5F_ACC_RDWR; }
static inline hid_t shim_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t shim_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t shim_native_int8(void) { return H5T_NATIVE_INT8; }
static inline hid_t shim_native_uint8(void) { return H5T_NATIVE_UINT8; }
static inline hid_t shim_native_uint16(void) { return H5T_NATIVE_UINT16; }
static inline hid_t shim_native_int32(void) { return H5T_NATIVE_INT32; }
static inline hid_t shim_native_uint32(void) { return H5T_NATIVE_UINT32; }
static inline hid_t shim_native_int64(void) { return H5T_NATIVE_INT64; }
static inline hid_t shim_native_uint64(void) { return H5T_NATIVE_UINT64; }
static inline hid_t shim_c_s1(void) { return H5T_C_S1; }
static inline size_t shim_h5t_variable(void) { return H5T_VARIABLE; }
static inline hsize_t shim_h5s_unlimited(void) { return H5S_UNLIMITED; }
#endif
