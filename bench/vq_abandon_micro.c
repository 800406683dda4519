/* Driver of bench/vq_abandon_study.py: ways of scanning 8-stage 8-bit ADC codes with early abandoning, timed in one
 * process on the same queries (thread CPU clock, best of 5 each), over all items (exhaustive ADC) and over the runs a
 * spilled IVF tree visits (the leaves of a budget-only search, in visiting order). Each prints its time a query, a
 * checksum of the ids (equal: the same results) and the items that reached the float sum (vbmi only).
 *   plain: the runtime's loop (8 byte loads, 8 table loads, the norm); u64: one 8-byte load, shifts;
 *   abandonS: after S stages, skip the item if partial + the remaining stages' smallest terms exceeds the k-th best
 *     (a branch per item); 2passS: the S-stage partial sums of 256 items first, the survivors' indices stored
 *     branch-free, then their last stages; simd16: AVX-512 gathers, 16 items a step; vbmi: the runtime's 8-bit
 *     lower-bound tables (SDK_VQ_BOUND8; R here has a 1e-4 relative slack, the runtime's proof is in sdk_vq.c).
 *   vq_abandon_micro PREFIX [ONLY]   (files PREFIX_*.{u8,f32,u32,txt} written by vq_abandon_study.py)
 */
#define _POSIX_C_SOURCE 200112L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
typedef float real;
#define K 10
static double now(void){struct timespec t;clock_gettime(CLOCK_THREAD_CPUTIME_ID,&t);return t.tv_sec+1e-9*t.tv_nsec;}
static void*slurp(const char*p,size_t*n){FILE*f=fopen(p,"rb");if(!f){perror(p);exit(1);}fseek(f,0,SEEK_END);*n=ftell(f);fseek(f,0,SEEK_SET);void*b;posix_memalign(&b,64,(*n+63)/64*64);fread(b,1,*n,f);fclose(f);return b;}
typedef struct { real d[K]; uint32_t id[K]; uint32_t cnt; } top;
static __attribute__((noinline)) void push(top*t, real d, uint32_t id){
  uint32_t pos; for(pos=0;pos<t->cnt;pos++) if(t->id[pos]==id) return;
  pos = t->cnt<K? t->cnt++ : K-1;
  while(pos>0 && (d<t->d[pos-1]||(d==t->d[pos-1]&&id<t->id[pos-1]))){t->d[pos]=t->d[pos-1];t->id[pos]=t->id[pos-1];pos--;}
  t->d[pos]=d;t->id[pos]=id;
}
static inline real bnd(top*t){return t->cnt==K?t->d[K-1]:1e30f*1e30f;}
#define ADD(j) acc += r0[256u*(j)+c[j]]
/* V0: the shipped loop */
static __attribute__((noinline)) void run0(const uint8_t*codes,const real*norms,const uint32_t*ids,const real*r0,real qn,top*t,uint32_t pos,uint32_t end){
  const uint8_t*c=codes+(size_t)pos*8; real bound=bnd(t);
  for(;pos<end;pos++,c+=8){real acc=0,d; ADD(0);ADD(1);ADD(2);ADD(3);ADD(4);ADD(5);ADD(6);ADD(7);
    d=qn-2*acc+norms[pos]; if(d>bound)continue; push(t,d,ids?ids[pos]:pos); bound=bnd(t);}
}
/* V1: one 8-byte load, shifts */
#define ADDW(j) acc += r0[256u*(j)+((w>>(8*(j)))&255u)]
static __attribute__((noinline)) void run1(const uint8_t*codes,const real*norms,const uint32_t*ids,const real*r0,real qn,top*t,uint32_t pos,uint32_t end){
  const uint8_t*c=codes+(size_t)pos*8; real bound=bnd(t);
  for(;pos<end;pos++,c+=8){real acc=0,d; uint64_t w; memcpy(&w,c,8); ADDW(0);ADDW(1);ADDW(2);ADDW(3);ADDW(4);ADDW(5);ADDW(6);ADDW(7);
    d=qn-2*acc+norms[pos]; if(d>bound)continue; push(t,d,ids?ids[pos]:pos); bound=bnd(t);}
}
/* V2: early abandon after S stages (branch). qr = qn - 2*R_S (R_S: sum of the remaining stages' max entries) */
#define RUN2(NAME,S,BODY_A,BODY_B) \
static __attribute__((noinline)) void NAME(const uint8_t*codes,const real*norms,const uint32_t*ids,const real*r0,real qn,real qr,top*t,uint32_t pos,uint32_t end){ \
  const uint8_t*c=codes+(size_t)pos*8; real bound=bnd(t); \
  for(;pos<end;pos++,c+=8){real acc=0,d,nm=norms[pos]; BODY_A; if(qr-2*acc+nm>bound)continue; BODY_B; \
    d=qn-2*acc+nm; if(d>bound)continue; push(t,d,ids?ids[pos]:pos); bound=bnd(t);} }
RUN2(run2_4,4,(ADD(0),ADD(1),ADD(2),ADD(3)),(ADD(4),ADD(5),ADD(6),ADD(7)))
RUN2(run2_5,5,(ADD(0),ADD(1),ADD(2),ADD(3),ADD(4)),(ADD(5),ADD(6),ADD(7)))
RUN2(run2_6,6,(ADD(0),ADD(1),ADD(2),ADD(3),ADD(4),ADD(5)),(ADD(6),ADD(7)))
RUN2(run2_3,3,(ADD(0),ADD(1),ADD(2)),(ADD(3),ADD(4),ADD(5),ADD(6),ADD(7)))
/* V3: two passes per run: partial S stages for all, survivors compacted branch-free, then finished */
static uint32_t surv[1<<16]; static real survacc[1<<16];
#define RUN3(NAME,BODY_A,BODY_B) \
static __attribute__((noinline)) void NAME(const uint8_t*codes,const real*norms,const uint32_t*ids,const real*r0,real qn,real qr,top*t,uint32_t pos,uint32_t end){ \
  real bound=bnd(t); uint32_t ns=0,i; \
  while(pos<end){ uint32_t e2 = end-pos>256? pos+256:end; ns=0; const uint8_t*c=codes+(size_t)pos*8; \
   for(;pos<e2;pos++,c+=8){real acc=0; BODY_A; surv[ns]=pos; survacc[ns]=acc; ns += !(qr-2*acc+norms[pos]>bound);} \
   for(i=0;i<ns;i++){ uint32_t p=surv[i]; const uint8_t*c2=codes+(size_t)p*8; real acc=survacc[i],d; {const uint8_t*c=c2; BODY_B;} \
     d=qn-2*acc+norms[p]; if(d>bound)continue; push(t,d,ids?ids[p]:p); bound=bnd(t);} } }
RUN3(run3_4,(ADD(0),ADD(1),ADD(2),ADD(3)),(ADD(4),ADD(5),ADD(6),ADD(7)))
RUN3(run3_3,(ADD(0),ADD(1),ADD(2)),(ADD(3),ADD(4),ADD(5),ADD(6),ADD(7)))
RUN3(run3_5,(ADD(0),ADD(1),ADD(2),ADD(3),ADD(4)),(ADD(5),ADD(6),ADD(7)))


#include <immintrin.h>
/* V4: AVX-512 gathers, 16 items a step */
static __attribute__((noinline)) void run4(const uint8_t*codes,const real*norms,const uint32_t*ids,const real*r0,real qn,top*t,uint32_t pos,uint32_t end){
  real bound=bnd(t);
  const __m512i two56 = _mm512_set1_epi32(256);
  __m512i sel[8];
  for (int m=0;m<8;m++){ uint8_t ix[64]; for(int i=0;i<64;i++) ix[i]=(uint8_t)((i<16)? (i*8+m):0); sel[m]=_mm512_loadu_si512(ix); }
  const __m512 vqn=_mm512_set1_ps(qn);
  for(;pos+16<=end;pos+=16){
    const uint8_t*c=codes+(size_t)pos*8;
    __m512i lo=_mm512_loadu_si512(c), hi=_mm512_loadu_si512(c+64);
    __m512 acc=_mm512_setzero_ps();
    for(int m=0;m<8;m++){
      __m512i b=_mm512_permutex2var_epi8(lo,sel[m],hi);
      __m512i ix=_mm512_add_epi32(_mm512_cvtepu8_epi32(_mm512_castsi512_si128(b)), _mm512_set1_epi32(256*m));
      acc=_mm512_add_ps(acc,_mm512_i32gather_ps(ix,r0,4));
    }
    __m512 d=_mm512_add_ps(_mm512_fnmadd_ps(_mm512_set1_ps(2.0f),acc,vqn),_mm512_loadu_ps(norms+pos));
    __mmask16 k=_mm512_cmp_ps_mask(d,_mm512_set1_ps(bound),_CMP_LE_OQ);
    if(k){ float dd[16]; _mm512_storeu_ps(dd,d); while(k){int i=__builtin_ctz(k); k&=k-1; if(dd[i]<=bound){push(t,dd[i],ids?ids[pos+i]:pos+i); bound=bnd(t);}}}
  }
  (void)two56;
  if(pos<end) run0(codes,norms,ids,r0,qn,t,pos,end);
}

/* V5: VBMI u8-table lower-bound filter, 64 items a block */
static uint64_t survivors;
typedef struct { uint8_t qt[8][256] __attribute__((aligned(64))); real T, delta, invd, slack; } pref;
static void pref_init(pref*P, const real*lut, real qn){
  real tmin[8], sr=0, mag=qn; int m,j;
  for(m=0;m<8;m++){ real lo=1e30f,hi=-1e30f; for(j=0;j<256;j++){ real t=-2*lut[m*256+j]; lo=t<lo?t:lo; hi=t>hi?t:hi;} tmin[m]=lo; sr+=hi-lo; mag += (hi>-lo?hi:-lo); }
  P->delta = sr/255.0f; P->invd = 1.0f/P->delta; P->T=0; for(m=0;m<8;m++) P->T+=tmin[m];
  P->slack = 1e-4f*mag;
  for(m=0;m<8;m++) for(j=0;j<256;j++){ real x=(-2*lut[m*256+j]-tmin[m])*P->invd - 1e-3f; int v = x<=0?0:(int)x; P->qt[m][j]=(uint8_t)(v>255?255:v); }
}
static __attribute__((noinline)) void run5(const uint8_t*codes,const real*norms,const uint32_t*ids,const real*r0,real qn,const pref*P,top*t,uint32_t pos,uint32_t end){
  real bound=bnd(t);
  static const uint8_t permb[64] __attribute__((aligned(64))) = {0,8,16,24,32,40,48,56, 1,9,17,25,33,41,49,57, 2,10,18,26,34,42,50,58, 3,11,19,27,35,43,51,59, 4,12,20,28,36,44,52,60, 5,13,21,29,37,45,53,61, 6,14,22,30,38,46,54,62, 7,15,23,31,39,47,55,63};
  const __m512i pb=_mm512_load_si512(permb);
  const __m512i i1lo=_mm512_setr_epi64(0,8,1,9,2,10,3,11), i1hi=_mm512_setr_epi64(4,12,5,13,6,14,7,15);
  const __m512i i2a=_mm512_setr_epi64(0,1,8,9,2,3,10,11), i2b=_mm512_setr_epi64(4,5,12,13,6,7,14,15);
  const __m512i i3a=_mm512_setr_epi64(0,1,2,3,8,9,10,11), i3b=_mm512_setr_epi64(4,5,6,7,12,13,14,15);
  __m512i tb[8][4];
  for(int m=0;m<8;m++) for(int h=0;h<4;h++) tb[m][h]=_mm512_load_si512(P->qt[m]+64*h);
  while(pos<end){
    uint32_t nl = end-pos<64? end-pos:64; int k;
    const uint8_t*c=codes+(size_t)pos*8;
    __m512i z[8], u[8], w[8], Z[8];
    for(k=0;k<8;k++){ int v=(int)nl-8*k; v=v<0?0:v>8?8:v; __mmask64 bm = v==8? ~0ULL : ((1ULL<<(8*v))-1); z[k]=_mm512_permutexvar_epi8(pb,_mm512_maskz_loadu_epi8(bm,c+64*k)); }
    for(k=0;k<4;k++){ u[2*k]=_mm512_permutex2var_epi64(z[2*k],i1lo,z[2*k+1]); u[2*k+1]=_mm512_permutex2var_epi64(z[2*k],i1hi,z[2*k+1]); }
    /* u[2p]: stages 0-3 of groups 2p,2p+1 as [a0 b0 a1 b1 a2 b2 a3 b3]; u[2p+1]: stages 4-7 */
    for(k=0;k<2;k++){ /* combine pair p=2k... groups (0,1)&(2,3) -> k=0 ; (4,5)&(6,7) -> k=1 */
      __m512i A=u[4*k], B=u[4*k+2], C=u[4*k+1], D=u[4*k+3];
      w[4*k]=_mm512_permutex2var_epi64(A,i2a,B); /* stages 0,1 of 4 groups: [a0 b0 c0 d0 a1 b1 c1 d1] */
      w[4*k+1]=_mm512_permutex2var_epi64(A,i2b,B); /* stages 2,3 */
      w[4*k+2]=_mm512_permutex2var_epi64(C,i2a,D); /* 4,5 */
      w[4*k+3]=_mm512_permutex2var_epi64(C,i2b,D); /* 6,7 */
    }
    for(k=0;k<4;k++){ Z[2*k]=_mm512_permutex2var_epi64(w[k],i3a,w[4+k]); Z[2*k+1]=_mm512_permutex2var_epi64(w[k],i3b,w[4+k]); }
    __m512i S=_mm512_setzero_si512();
    for(int m=0;m<8;m++){
      __m512i L=_mm512_permutex2var_epi8(tb[m][0],Z[m],tb[m][1]);
      __m512i H=_mm512_permutex2var_epi8(tb[m][2],Z[m],tb[m][3]);
      S=_mm512_adds_epu8(S,_mm512_mask_blend_epi8(_mm512_movepi8_mask(Z[m]),L,H));
    }
    /* keep iff S <= (B - norm) * invd,  B = bound + slack - qn - T */
    const real B = bound + P->slack - qn - P->T;
    uint64_t keep=0;
    const __m512 vB=_mm512_set1_ps(B), vi=_mm512_set1_ps(P->invd);
    for(int h=0;h<4;h++){
      __mmask16 lm = nl>=16u*(h+1)? 0xFFFF : (nl<=16u*h? 0 : (__mmask16)((1u<<(nl-16*h))-1));
      __m512 nv=_mm512_maskz_loadu_ps(lm,norms+pos+16*h);
      __m512 thr=_mm512_mul_ps(_mm512_sub_ps(vB,nv),vi);
      __m512 sf=_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(S,0)));
      if(h==1) sf=_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(S,1)));
      if(h==2) sf=_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(S,2)));
      if(h==3) sf=_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(S,3)));
      keep |= (uint64_t)(_mm512_mask_cmp_ps_mask(lm,sf,thr,_CMP_LE_OQ)) << (16*h);
    }
    survivors+=__builtin_popcountll(keep); while(keep){ int i=__builtin_ctzll(keep); keep&=keep-1; uint32_t p=pos+i; const uint8_t*cc=codes+(size_t)p*8; const uint8_t*c=cc; real acc=0,d;
      ADD(0);ADD(1);ADD(2);ADD(3);ADD(4);ADD(5);ADD(6);ADD(7); d=qn-2*acc+norms[p]; if(d>bound) continue; push(t,d,ids?ids[p]:p); bound=bnd(t); }
    pos+=nl;
  }
}


int main(int argc,char**argv){
  const char*pre=argv[1]; char p[512]; size_t n;
  int only = argc>2? atoi(argv[2]) : -1;
  sprintf(p,"%s_codes.u8",pre); uint8_t*codes=slurp(p,&n); uint32_t N=n/8;
  sprintf(p,"%s_lut.f32",pre); real*lut=slurp(p,&n); uint32_t NQ=n/4/2048;
  sprintf(p,"%s_qn.f32",pre); real*qn=slurp(p,&n);
  sprintf(p,"%s_norms.f32",pre); real*norms=slurp(p,&n);
  sprintf(p,"%s_trest.u8",pre); uint8_t*trest=slurp(p,&n);
  sprintf(p,"%s_tids.u32",pre); uint32_t*tids=slurp(p,&n);
  sprintf(p,"%s_tnorms.f32",pre); real*tnorms=slurp(p,&n);
  sprintf(p,"%s_ranges.txt",pre); FILE*f=fopen(p,"r");
  uint32_t**rg=malloc(NQ*sizeof*rg); uint32_t*nr=malloc(NQ*4);
  for(uint32_t q=0;q<NQ;q++){ fscanf(f,"%u",&nr[q]); rg[q]=malloc(8*nr[q]); for(uint32_t i=0;i<2*nr[q];i++) fscanf(f,"%u",&rg[q][i]); }
  real R[NQ][9];
  for(uint32_t q=0;q<NQ;q++){ for(int s=0;s<=8;s++){ real r=0; for(int m=s;m<8;m++){ real mx=-1e30f; for(int j=0;j<256;j++) if(lut[q*2048+m*256+j]>mx) mx=lut[q*2048+m*256+j]; r+=mx;} R[q][s]=r*1.0001f+1e-4f; } }
  const char*names[]={"plain","u64","abandon3","abandon4","abandon5","abandon6","2pass3","2pass4","2pass5","simd16","vbmi"};
  int S[]={0,0,3,4,5,6,3,4,5,0,0};
  { static pref P; double b=1e30; for(int r=0;r<5;r++){ double t0=now(); for(uint32_t q=0;q<NQ;q++) pref_init(&P,lut+q*2048,qn[q]); double dt=now()-t0; if(dt<b)b=dt;} printf("pref_init %.2f us/query\n",1e6*b/NQ); }
  for(int tree=0;tree<2;tree++){
   for(int v=0;v<11;v++){ if(only>=0 && v!=only && v!=0) continue;
    double best=1e30; uint64_t cs=0;
    for(int rep=0;rep<5;rep++){ double t0=now(); cs=0;
     for(uint32_t q=0;q<NQ;q++){ top t; t.cnt=0; static pref P; if(v==10) pref_init(&P,lut+q*2048,qn[q]); const real*r0=lut+q*2048; real qr=qn[q]-2*R[q][S[v]];
      uint32_t nrun = tree? nr[q]:1;
      for(uint32_t i=0;i<nrun;i++){ uint32_t a= tree? rg[q][2*i]:0, b= tree? rg[q][2*i+1]:N;
        const uint8_t*cd= tree? trest:codes; const real*nm= tree? tnorms:norms; const uint32_t*id= tree? tids:NULL;
        switch(v){case 0: run0(cd,nm,id,r0,qn[q],&t,a,b);break; case 1: run1(cd,nm,id,r0,qn[q],&t,a,b);break;
          case 2: run2_3(cd,nm,id,r0,qn[q],qr,&t,a,b);break; case 3: run2_4(cd,nm,id,r0,qn[q],qr,&t,a,b);break;
          case 4: run2_5(cd,nm,id,r0,qn[q],qr,&t,a,b);break; case 5: run2_6(cd,nm,id,r0,qn[q],qr,&t,a,b);break;
          case 6: run3_3(cd,nm,id,r0,qn[q],qr,&t,a,b);break; case 7: run3_4(cd,nm,id,r0,qn[q],qr,&t,a,b);break;
          case 8: run3_5(cd,nm,id,r0,qn[q],qr,&t,a,b);break; case 9: run4(cd,nm,id,r0,qn[q],&t,a,b);break; case 10: run5(cd,nm,id,r0,qn[q],&P,&t,a,b);break;}
      }
      for(int j=0;j<K;j++) cs=cs*31+t.id[j];
     }
     double dt=now()-t0; if(dt<best)best=dt; }
    printf("%s %-9s %7.2f us/query  cs %016llx surv/q %.0f\n", tree?"tree":"exh ", names[v], 1e6*best/NQ, (unsigned long long)cs, survivors/5.0/NQ); survivors=0;
   }
  }
  return 0;
}
